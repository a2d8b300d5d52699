// Origin for docs/benchmarks/cache-tests.sh: serves the http-cache-tests suite's
// origin (its /config, /test and /state handlers, imported at run time from
// an npm install of the package) on 127.0.0.1 only. The package's own
// server/server.mjs binds every interface, which we never do.
//
//   node origin.mjs PKG_DIR [PORT]     # PORT 0 (default) picks a free one
//
// Prints "listening on http://127.0.0.1:PORT" on stdout once bound; the
// suite's server-side logging (request/response dumps of a single test run,
// warnings) follows on stdout too. Anything outside /config, /test, /state is
// 404: the suite's client needs no files from the origin, so none are served.
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [pkgDir, portArg = '0'] = process.argv.slice(2)
if (!pkgDir) {
  console.error('usage: node origin.mjs PKG_DIR [PORT]')
  process.exit(2)
}
const port = Number(portArg)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`origin.mjs: bad port ${portArg}`)
  process.exit(2)
}

const load = async name =>
  (await import(pathToFileURL(path.join(path.resolve(pkgDir), 'server', name)).href)).default
const handlers = {
  config: await load('handle-config.mjs'),
  test: await load('handle-test.mjs'),
  state: await load('handle-state.mjs')
}

const server = http.createServer((req, res) => {
  // Same dispatch as the package's server: /<handler>/<uuid>/...
  const segs = new URL(req.url, 'http://127.0.0.1/').pathname.split('/').slice(1)
  const handler = Object.prototype.hasOwnProperty.call(handlers, segs[0]) ? handlers[segs[0]] : undefined
  if (handler) {
    handler(segs.slice(1), req, res)
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' })
    res.end('not found\n')
  }
})
server.on('error', err => {
  console.error(`origin.mjs: ${err.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`)
})
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
