// Test PKI: a site CA, broker certificate, node and service identities and their acl_file in a temp dir, made with cloud/provision.ts, plus the Mosquitto TLS listener that uses them.
import { chmodSync, copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { brokerListenerConfig, initCa, issueServerCert, provisionNode, provisionService, type ClientFiles } from '../../cloud/provision.js';
import { tempDir } from '../harness/services.js';

export interface ServiceSpec {
  name: string;
  readTopics: string[];
  writeTopics: string[];
}

export interface TlsFiles {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  dir: string;
  site: string;
  caFile: string;
  aclFile: string;
  server: { certFile: string; keyFile: string };
  nodes: Record<string, ClientFiles>;
  services: Record<string, ClientFiles>;
  /** startMosquitto({ listenerConfig }) text for a TLS listener that requires these certificates and applies the ACL. */
  listenerConfig: string;
  /** The ca/cert/key buffers mqtt.js takes for a node or service identity. */
  tls(name: string): TlsFiles;
  close(): void;
}

export async function makeTestPki(opts: { site?: string; nodes: string[]; services?: ServiceSpec[] }): Promise<TestPki> {
  const site = opts.site ?? 'site-t';
  const dir = tempDir('pki');
  // Mosquitto reads its files after dropping root to the mosquitto user, which must be able to enter the directory.
  chmodSync(dir, 0o755);
  const caDir = join(dir, 'ca');
  const aclFile = join(dir, 'acl');
  const { caCert } = await initCa({ caDir, site });
  const server = await issueServerCert({ caDir, outDir: join(dir, 'broker'), hosts: ['127.0.0.1', 'localhost'] });
  const nodes: Record<string, ClientFiles> = {};
  for (const node of opts.nodes) nodes[node] = await provisionNode({ node, site, caDir, outDir: join(dir, 'nodes', node), aclFile });
  const services: Record<string, ClientFiles> = {};
  for (const s of opts.services ?? []) services[s.name] = await provisionService({ ...s, caDir, outDir: join(dir, 'services', s.name), aclFile });
  // The CA and broker files are copied into a world-readable directory for the broker; the CA key stays in caDir (0700).
  chmodSync(join(dir, 'broker'), 0o755);
  chmodSync(server.keyFile, 0o644);
  const brokerCa = join(dir, 'broker', 'ca.crt');
  copyFileSync(caCert, brokerCa);
  // The listener exactly as provisioning generates it; the harness fills in the free port it picked.
  const listenerConfig = brokerListenerConfig({ port: 0, host: '127.0.0.1', caFile: brokerCa, certFile: server.certFile, keyFile: server.keyFile, aclFile }).replace(
    /^listener 0 /,
    'listener ${port} ',
  );
  const all = { ...nodes, ...services };
  return {
    dir,
    site,
    caFile: brokerCa,
    aclFile,
    server,
    nodes,
    services,
    listenerConfig,
    tls(name: string): TlsFiles {
      const f = all[name];
      if (!f) throw new Error(`no identity "${name}" in the test PKI (have ${Object.keys(all).join(', ')})`);
      return { ca: readFileSync(f.caFile), cert: readFileSync(f.certFile), key: readFileSync(f.keyFile) };
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
