"""What `make lint` and `make mutants` run besides the linters: the deploy rehearsal and the
mutation check."""
