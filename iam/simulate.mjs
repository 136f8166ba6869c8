// Evaluates IAM requests with @cloud-copilot/iam-simulate: reads a JSON list of simulations
// (its `Simulation` shape) on stdin, writes one answer per simulation on stdout:
// {"result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "Error", "ignored": [...],
//  "errors": ..., "decisive": [[policy name, Sid], ...]}. No IAM logic lives here: only the evaluator's.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))

// [policy name, Sid] of each statement; the resource policy is named "resource policy"
const sids = (statements) =>
  (statements || []).map((s) => [s.policyId ?? 'resource policy', s.explain?.identifier ?? ''])

const answers = []
for (const simulation of simulations) {
  const answer = await runSimulation(simulation, {})
  if (answer.resultType === 'error') {
    answers.push({ result: 'Error', ignored: [], errors: answer.errors, decisive: [] })
    continue
  }
  const result = answer.result ?? answer.results?.[0]
  const analysis = result?.analysis ?? {}
  answers.push({
    result: answer.overallResult,
    ignored: result?.ignoredContextKeys ?? [],
    errors: null,
    decisive: [
      ...sids(analysis.identityAnalysis?.allowStatements),
      ...sids(analysis.identityAnalysis?.denyStatements),
      ...sids(analysis.resourceAnalysis?.allowStatements),
      ...sids(analysis.resourceAnalysis?.denyStatements)
    ]
  })
}
process.stdout.write(JSON.stringify(answers))
