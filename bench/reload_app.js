// The app PM2 reloads under load (bench/reload_load.py): bench/reload_app.py in node,
// since PM2's cluster mode runs node programs only.
//
// argv[2]: the port. In PM2's cluster mode every worker calls listen() on it and
// node's cluster module hands the workers connections from the one socket the
// master holds. One request per connection (Connection: close). On SIGINT (PM2's
// kill signal) it stops accepting, lets the connections in hand finish and exits 0:
// PM2's documented graceful shutdown.
'use strict';

const http = require('http');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Length': 2, Connection: 'close' });
  res.end('ok');
});
server.listen(Number(process.argv[2]), '127.0.0.1');

function stop() {
  server.close(() => process.exit(0));
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);
