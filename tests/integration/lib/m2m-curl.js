'use strict';
// Runs the real `curl` binary (the docs' examples are curl commands) and
// parses what it received. Every run is bounded: curl's own --max-time, and a
// SIGKILL of that curl (by its PID) if it outlives it.
const { spawn } = require('node:child_process');
const { SCALE, parseResponses } = require('./wire');

const CURL = process.env.CURL_BIN || 'curl';

// curl(args, {timeoutMs}) -> {code, stdout(Buffer), stderr, args}.
// `args` are passed verbatim; -sS and --max-time are added in front.
function curlRaw(args, { timeoutMs = 15000 * SCALE } = {}) {
  const full = ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(CURL, full, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let outLen = 0;
    let stderr = '';
    child.stdout.on('data', (d) => { if (outLen < 4 * 1024 * 1024) { out.push(d); outLen += d.length; } });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { if (stderr.length < 65536) stderr += d; });
    const killer = setTimeout(() => { try { child.kill('SIGKILL'); } catch (e) { /* gone */ } }, timeoutMs + 5000);
    child.once('error', (e) => { clearTimeout(killer); reject(new Error(`cannot run ${CURL}: ${e.message}`)); });
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, args: full });
    });
  });
}

// curlHttp(args) runs `curl -i ARGS` and parses the last final response it
// printed (after any 100-continue). Resolves {status, headers, rawHeaders,
// body, text(), json(), curl} and rejects when curl failed or printed no
// parsable response.
async function curlHttp(args, opts = {}) {
  const r = await curlRaw(['-i', ...args], opts);
  if (r.code !== 0) throw new Error(`curl ${r.args.join(' ')} exited ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr}`);
  const method = methodOf(args);
  const { responses } = parseResponses(r.stdout, { methods: [method], closed: true });
  const finals = responses.filter((x) => !x.interim);
  const res = finals[finals.length - 1];
  if (!res || res.garbage) throw new Error(`curl printed no HTTP response: ${JSON.stringify(r.stdout.toString('latin1').slice(0, 500))}`);
  const body = res.body;
  return {
    status: res.status, headers: res.headers, rawHeaders: res.rawHeaders, body, curl: r,
    text() { return body.toString('utf8'); },
    json() { return JSON.parse(body.toString('utf8')); },
  };
}

function methodOf(args) {
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '-X' || args[i] === '--request') return args[i + 1];
  if (args.includes('-I') || args.includes('--head')) return 'HEAD';
  return 'GET';
}

module.exports = { CURL, curlRaw, curlHttp };
