"""`vcc-token admin`: the verbs of the platform team that runs the service, one module each
(rules: check-rules, explain; status: status, purge; rotate; smoke; ledger: who-had, served-to;
dead_letters), and what they share (support: the error carrying the exit code, an AWS client per
service, one line per AWS failure, where a verb runs)."""
