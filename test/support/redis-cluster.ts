// A Redis Cluster on loopback, made by the test: six redis-server processes in cluster
// mode (three masters, a replica each) in a temporary folder, joined with
// `redis-cli --cluster create`. Stopped and deleted by stop().
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import IORedis from "ioredis";
import { isPortFree } from "../../src/runtime/ports.ts";

export interface ClusterNode {
  port: number;
  child: ChildProcess;
}

import { sleep } from "./runtime.ts";

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/** Ports p such that p and its cluster bus port p + 10000 are both free. */
async function clusterPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n && tries < 500; tries++) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if (ports.includes(p) || ports.some((q) => Math.abs(q - p) === 10000)) continue;
    if ((await isPortFree(p)) && (await isPortFree(p + 10000))) ports.push(p);
  }
  if (ports.length < n) throw new Error("no free ports for a Redis Cluster");
  return ports;
}

async function clusterInfo(port: number): Promise<Record<string, string>> {
  const out = await run("redis-cli", ["-p", String(port), "cluster", "info"]);
  return Object.fromEntries(out.split(/\r?\n/).filter(Boolean).map((l) => l.split(":") as [string, string]));
}

export class LoopbackCluster {
  private constructor(
    readonly dir: string,
    readonly nodes: ClusterNode[],
  ) {}

  /** "127.0.0.1:p1,127.0.0.1:p2,…": what REDIS_CLUSTER_NODES would say. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
  }

  static async start(): Promise<LoopbackCluster> {
    const dir = mkdtempSync(join(tmpdir(), "loyalty-cluster-"));
    const ports = await clusterPorts(6);
    const nodes = ports.map((port) => ({
      port,
      child: spawn(
        "redis-server",
        [
          "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
          "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "2000",
          "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", `redis-${port}.log`,
        ],
        { stdio: "ignore" },
      ),
    }));
    const cluster = new LoopbackCluster(dir, nodes);
    try {
      for (const n of nodes) {
        for (let i = 0; ; i++) {
          if ((await run("redis-cli", ["-p", String(n.port), "ping"]).catch(() => "")).trim() === "PONG") break;
          if (i > 100) throw new Error(`redis-server on ${n.port} did not start`);
          await sleep(50);
        }
      }
      await run("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"]);
      await cluster.waitHealthy();
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** Every live node sees all slots served and three masters. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const live = this.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
      const infos = await Promise.all(live.map((n) => clusterInfo(n.port).catch(() => ({}) as Record<string, string>)));
      if (infos.every((i) => i.cluster_state === "ok" && i.cluster_slots_ok === "16384" && i.cluster_size === "3")) return;
      if (Date.now() > until) throw new Error(`cluster not healthy: ${JSON.stringify(infos)}`);
      await sleep(200);
    }
  }

  /** The node now serving `key`'s slot as master. */
  async masterOf(key: string): Promise<ClusterNode> {
    const probe = new IORedis(this.nodes.find((n) => n.child.exitCode === null)!.port, "127.0.0.1", { lazyConnect: true });
    try {
      await probe.connect();
      const slot = Number(await probe.call("cluster", "keyslot", key));
      const ranges = (await probe.call("cluster", "slots")) as [number, number, [string, number, string]][];
      const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!owner) throw new Error(`no node serves slot ${slot}`);
      return this.nodes.find((n) => n.port === owner[2][1])!;
    } finally {
      probe.disconnect();
    }
  }

  /** The master's replica, as the master reports it. */
  async replicaOf(master: ClusterNode): Promise<ClusterNode> {
    const out = await run("redis-cli", ["-p", String(master.port), "info", "replication"]);
    const m = /slave0:ip=[^,]+,port=(\d+)/.exec(out);
    if (!m) throw new Error(`master ${master.port} has no replica:\n${out}`);
    return this.nodes.find((n) => n.port === Number(m[1]))!;
  }

  /** Waits until the replica holds everything its master wrote (offsets equal). */
  async waitReplicated(master: ClusterNode): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const out = await run("redis-cli", ["-p", String(master.port), "info", "replication"]);
      const own = Number(/master_repl_offset:(\d+)/.exec(out)?.[1]);
      const rep = Number(/slave0:.*offset=(\d+)/.exec(out)?.[1]);
      if (own > 0 && own === rep) return;
      await sleep(50);
    }
    throw new Error(`replica of ${master.port} did not catch up`);
  }

  async kill(node: ClusterNode): Promise<void> {
    const gone = new Promise((r) => node.child.once("exit", r));
    node.child.kill("SIGKILL");
    await gone;
  }

  /** Waits until `node` serves as a master (a replica promoted after its master died). */
  async waitPromoted(node: ClusterNode, timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await this.role(node).catch(() => "")) !== "master") {
      if (Date.now() > until) throw new Error(`replica ${node.port} was not promoted`);
      await sleep(200);
    }
  }

  async role(node: ClusterNode): Promise<string> {
    const out = await run("redis-cli", ["-p", String(node.port), "role"]);
    return out.split(/\r?\n/)[0]!.trim();
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return;
        const gone = new Promise((r) => n.child.once("exit", r));
        n.child.kill("SIGKILL");
        await gone;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
