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

module.exports = { scrape, value };
