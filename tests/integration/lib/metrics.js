'use strict';
// Reading the admin listener's /metrics in tests.
const http = require('node:http');
const { SCALE } = require('./wire');

// GET /metrics: resolves {status, type, body}.
function scrape(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.setTimeout(5000 * SCALE, () => req.destroy(new Error('scrape timed out')));
  });
}

// Value of one series (exact label set as rendered), 0 when absent.
function value(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (line.slice(0, sp) === series) return Number(line.slice(sp + 1));
  }
  return 0;
}

// Every line: a # HELP / # TYPE comment or `name{labels} value`; names per
// the format; one TYPE per family, before its samples; counters end in
// _total; no series twice.
function strictFormatErrors(text) {
  const errs = [];
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const types = new Map();
  const seen = new Set();
  const familyOf = (n) => {
    if (types.has(n)) return n;
    for (const suf of ['_bucket', '_sum', '_count']) {
      if (n.endsWith(suf) && types.get(n.slice(0, -suf.length)) === 'histogram') return n.slice(0, -suf.length);
    }
    return null;
  };
  if (!text.endsWith('\n')) errs.push('does not end with a newline');
  const lines = text.split('\n');
  lines.pop();
  for (const line of lines) {
    let m;
    if ((m = /^# HELP (\S+) .*$/.exec(line))) {
      if (!NAME.test(m[1])) errs.push(`bad HELP name: ${line}`);
      continue;
    }
    if ((m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      if (!NAME.test(m[1])) errs.push(`bad TYPE name: ${line}`);
      if (types.has(m[1])) errs.push(`two TYPE lines for ${m[1]}`);
      types.set(m[1], m[2]);
      if (m[2] === 'counter' && !m[1].endsWith('_total')) errs.push(`counter ${m[1]} does not end in _total`);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|\+Inf|-Inf|NaN)$/.exec(line);
    if (!m) {
      errs.push(`not a comment nor a sample: ${JSON.stringify(line)}`);
      continue;
    }
    if (!familyOf(m[1])) errs.push(`sample before (or without) its TYPE: ${line}`);
    const key = m[1] + (m[2] || '');
    if (seen.has(key)) errs.push(`series twice: ${key}`);
    seen.add(key);
  }
  return errs;
}

module.exports = { scrape, value, strictFormatErrors };
