'use strict';
// The processes `make run` (conf/run-demo.sh) starts, on free ports: the demo
// REST upstream, the demo MCP server, the demo authorization server and the
// gateway with conf/gateway.ini itself, its fixed ports and relative paths
// rewritten. What the demo's flows do here, they do under `make run`.
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { HOST, SCALE } = require('./wire');
const { REPO, tmpDir, freePorts, startUpstream, launchGateway, stopChild } = require('./procs');
const { startMcpServer } = require('./mcp-kit');

const DEMO_AS = path.join(REPO, 'tests', 'servers', 'demo-as.mjs');
const asChildren = new Set();
process.on('exit', () => { for (const c of asChildren) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } } });

async function startDemoAs(resources) {
  const args = [DEMO_AS, '--port', '0', '--exit-with-stdin'];
  for (const r of resources) args.push('--resource', r);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO });
  asChildren.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 65536) stderr = stderr.slice(-65536); });
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`demo-as did not start: ${stderr}`)), 20000 * SCALE);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try { resolve(JSON.parse(buf.slice(0, nl))); } catch (e) { reject(e); }
      }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`demo-as exited ${code}: ${stderr}`)); });
  });
  child.stdout.resume();
  return { ...info, child, stderr: () => stderr, stop: () => { asChildren.delete(child); return stopChild(child); } };
}

// conf/gateway.ini with the demo's ports replaced and its paths made absolute.
function demoConfig(text, ports) {
  const swap = { 8080: ports.gw, 9001: ports.rest, 9002: ports.mcp, 9003: ports.as, 9901: ports.admin };
  let out = text.replace(/127\.0\.0\.1:(8080|9001|9002|9003|9901)\b/g, (m, p) => `${HOST}:${swap[p]}`);
  out = out.replace(/^(\s*[a-z_]+\s*=\s*)(dev\/)/gm, (m, k, d) => `${k}${path.join(REPO, 'conf', d)}`);
  out = out.replace(/^(\s*file\s*=\s*)\.\.\/policies\//m, (m, k) => `${k}${path.join(REPO, 'policies')}/`);
  for (const p of Object.keys(swap)) {
    if (out.includes(`127.0.0.1:${p}`)) throw new Error(`port ${p} left in the demo config`);
  }
  return out;
}

async function startDemoStack() {
  const [gwPort, adminPort] = await freePorts(2);
  const base = `http://${HOST}:${gwPort}`;
  const rest = await startUpstream({ name: 'demo-rest', demo: true });
  const mcp = await startMcpServer();
  const as = await startDemoAs([base, `${base}/mcp`]);
  const dir = tmpDir();
  const text = demoConfig(fs.readFileSync(path.join(REPO, 'conf', 'gateway.ini'), 'utf8'),
    { gw: gwPort, admin: adminPort, rest: rest.port, mcp: mcp.port, as: as.port });
  const configPath = path.join(dir, 'gateway.ini');
  fs.writeFileSync(configPath, text);
  const gw = await launchGateway({ configPath, port: gwPort, adminPort, dir, where: {}, text });
  return {
    base, gw, rest, mcp, as, configText: text,
    async stop() {
      await gw.stop();
      await as.stop();
      await mcp.stop();
      await rest.stop();
    },
  };
}

module.exports = { startDemoStack, startDemoAs, demoConfig, DEMO_AS };
