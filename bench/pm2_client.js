// A persistent PM2 connection for the bench (bench/pm2_peer.py), run by node.
//
// argv[2]: the directory of the pm2 package; PM2_HOME comes from the environment.
// Reads one JSON request a line on stdin, answers one JSON line on stdout:
//   {"op": "list"}              -> {"ok": true, "procs": [{name, pid, status, restarts, uptime}]}
//   {"op": "restart_all"}       -> {"ok": true}
//   {"op": "rtt", "calls": N, "warmup": W} -> {"ok": true, "samples": [ns, ...]}
// or {"ok": false, "error": TEXT}. It never starts a daemon: it refuses to connect
// while $PM2_HOME/rpc.sock is missing. It exits at the end of its stdin.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const pm2 = require(process.argv[2]);
const rpc = path.join(process.env.PM2_HOME, 'rpc.sock');
let connected = false;

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function ensure(cb) {
  if (connected) return cb(null);
  if (!fs.existsSync(rpc)) return cb(new Error('no daemon (no rpc.sock)'));
  pm2.connect(false, (err) => {
    if (!err) connected = true;
    cb(err);
  });
}

function rtt(calls, warmup, cb) {
  const samples = [];
  let i = 0;
  const step = () => {
    if (i >= warmup + calls) return cb(null, samples);
    const t0 = process.hrtime.bigint();
    pm2.Client.executeRemote('ping', {}, (err) => {
      if (err) return cb(err);
      if (i >= warmup) samples.push(Number(process.hrtime.bigint() - t0));
      i += 1;
      step();
    });
  };
  step();
}

function handle(req, done) {
  ensure((err) => {
    if (err) return done({ ok: false, error: String(err) });
    if (req.op === 'list') {
      pm2.list((err2, list) => {
        if (err2) return done({ ok: false, error: String(err2) });
        done({
          ok: true,
          procs: list.map((p) => ({
            name: p.name,
            pid: p.pid || null,
            status: p.pm2_env.status,
            restarts: p.pm2_env.restart_time,
            uptime: p.pm2_env.pm_uptime,
          })),
        });
      });
    } else if (req.op === 'restart_all') {
      pm2.restart('all', (err2) => done(err2 ? { ok: false, error: String(err2) } : { ok: true }));
    } else if (req.op === 'rtt') {
      rtt(req.calls, req.warmup, (err2, samples) =>
        done(err2 ? { ok: false, error: String(err2) } : { ok: true, samples }));
    } else {
      done({ ok: false, error: 'unknown op' });
    }
  });
}

const queue = [];
let busy = false;
function pump() {
  if (busy || queue.length === 0) return;
  busy = true;
  handle(queue.shift(), (answer) => {
    reply(answer);
    busy = false;
    pump();
  });
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  queue.push(JSON.parse(line));
  pump();
}).on('close', () => {
  const finish = () => process.exit(0);
  if (queue.length === 0 && !busy) {
    if (connected) pm2.disconnect(finish); else finish();
  } else {
    setTimeout(finish, 1000);
  }
});
