// Summariser for docs/benchmarks/cache-tests.sh: classifies http-cache-tests result
// files (JSON from the suite's cli.mjs, or the package's bundled results/*.json)
// the way the suite's own result display does, and prints one line of counts
// per file:
//   pass     test passed                  fail     required test failed (⛔️)
//   optfail  optimal test failed (⚠️)     yes/no   check test answered yes/no
//   setup    setup failed (🔹)            retry    the cache retried a request (↻)
//   dep      a test it depends on is not pass/yes (⚪️)
//   untested no result (e.g. browser-only tests)
//   harness  harness failure (⁉️), shown only when there is one
// A result counts as pass/fail/... only if all its dependencies pass, as in
// the suite. Test definitions (ids, kinds, dependencies) are imported at run
// time from the installed package (PKG_DIR/tests/).
//
//   node summary.mjs --pkg PKG_DIR [--as-published] [--failures[=LABEL,...]] [LABEL=]FILE...
//
// --failures lists, after the counts, the fail, optfail, setup, retry and
// harness tests of every file (or of the named labels only) with the suite's
// message. LABEL defaults to the file name without .json.
//
// The Age-parsing tests of 0.4.5 (`age-parse-*`) expect an invalid or
// list-valued Age to make a response stale. RFC 9111 §5.1 as published says
// the opposite (use the first member of a list; ignore an invalid value:
// httpwg/http-core#778, #781), and the suite's later revisions turned every
// one of them into a `check` (an informational question, not conformance).
// They are counted as checks here, for every cache alike; --as-published
// counts them as 0.4.5 does.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

function usage (msg) {
  if (msg) console.error(`summary.mjs: ${msg}`)
  console.error('usage: node summary.mjs --pkg PKG_DIR [--as-published] [--failures[=LABEL,...]] [LABEL=]FILE...')
  process.exit(2)
}

let pkgDir
let failures = null // null: none; true: every file; Set: these labels
let asPublished = false
const files = []
const args = process.argv.slice(2)
while (args.length) {
  const a = args.shift()
  if (a === '--pkg') pkgDir = args.shift()
  else if (a.startsWith('--pkg=')) pkgDir = a.slice(6)
  else if (a === '--failures') failures = true
  else if (a === '--as-published') asPublished = true
  else if (a.startsWith('--failures=')) failures = new Set(a.slice(11).split(','))
  else if (a.startsWith('--')) usage(`unknown option ${a}`)
  else {
    const eq = a.indexOf('=')
    const file = eq > 0 ? a.slice(eq + 1) : a
    const label = eq > 0 ? a.slice(0, eq) : path.basename(a, '.json')
    files.push({ label, file })
  }
}
if (!pkgDir) usage('--pkg is required')
if (!files.length) usage('no result files')

// The suite's test list, as its cli.mjs runs it: tests/index.mjs plus the
// Surrogate-Control suite.
const testsDir = path.join(path.resolve(pkgDir), 'tests')
const imp = async f => (await import(pathToFileURL(path.join(testsDir, f)).href)).default
const suites = [...await imp('index.mjs'), await imp('surrogate-control.mjs')]
const tests = new Map() // id -> test, first definition wins (as the suite's lookup)
for (const suite of suites) {
  for (const t of suite.tests) if (!tests.has(t.id)) tests.set(t.id, t)
}

const CLASSES = ['pass', 'fail', 'optfail', 'yes', 'no', 'setup', 'retry', 'dep', 'untested', 'harness']
const LISTED = ['fail', 'optfail', 'setup', 'retry', 'harness']

function classify (results, id, seen = new Set()) {
  const test = tests.get(id)
  if (!test) throw new Error(`unknown test ${id}`)
  const r = results[id]
  if (r === undefined) return 'untested'
  for (const dep of test.depends_on || []) {
    if (seen.has(dep)) throw new Error(`dependency cycle at ${dep}`)
    const c = classify(results, dep, new Set([...seen, id]))
    if (c !== 'pass' && c !== 'yes') return 'dep'
  }
  if (Array.isArray(r) && r[0] === 'Setup') return r[1] === 'retry' ? 'retry' : 'setup'
  if (r === false) return 'harness'
  const ok = r === true
  const kind = !asPublished && id.startsWith('age-parse-') ? 'check' : test.kind
  switch (kind) {
    case undefined:
    case 'required': return ok ? 'pass' : 'fail'
    case 'optimal': return ok ? 'pass' : 'optfail'
    case 'check': return ok ? 'yes' : 'no'
    default: throw new Error(`test ${id}: unknown kind ${kind}`)
  }
}

function summarise ({ label, file }) {
  let results
  try {
    results = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    console.error(`summary.mjs: ${file}: ${err.message}`)
    process.exit(1)
  }
  if (results === null || typeof results !== 'object' || Array.isArray(results)) {
    console.error(`summary.mjs: ${file}: not a results object`)
    process.exit(1)
  }
  const counts = Object.fromEntries(CLASSES.map(c => [c, 0]))
  const listed = []
  for (const id of tests.keys()) {
    const c = classify(results, id)
    counts[c]++
    if (LISTED.includes(c)) {
      const r = results[id]
      const msg = Array.isArray(r) ? (r[0] === 'Assertion' || r[0] === 'Setup' ? r[1] : `${r[0]}: ${r[1]}`) : ''
      listed.push({ c, id, msg })
    }
  }
  const unknown = Object.keys(results).filter(id => !tests.has(id)).length
  return { label, counts, listed, unknown }
}

const summaries = files.map(summarise)
const width = Math.max(...summaries.map(s => s.label.length))
for (const s of summaries) {
  const shown = CLASSES.filter(c => c !== 'harness' || s.counts.harness > 0)
  let line = `${s.label.padEnd(width)}  ` + shown.map(c => `${c} ${String(s.counts[c]).padStart(3)}`).join('  ')
  line += `  (of ${tests.size})`
  if (s.unknown) line += `  +${s.unknown} result(s) for unknown test ids, ignored`
  console.log(line)
}
if (failures) {
  for (const s of summaries) {
    if (failures !== true && !failures.has(s.label)) continue
    const list = LISTED.flatMap(c => s.listed.filter(x => x.c === c))
    console.log(`\n${s.label}: ${list.length} test(s) fail, optfail, setup, retry or harness`)
    const idWidth = Math.max(0, ...list.map(x => x.id.length))
    for (const x of list) console.log(`  ${x.c.padEnd(7)}  ${x.id.padEnd(idWidth)}  ${x.msg}`)
  }
}
