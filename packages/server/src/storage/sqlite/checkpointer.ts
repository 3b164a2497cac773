/**
 * WAL checkpoints on a worker thread (docs/architecture.md §8: "checkpointing off the request path"). With
 * better-sqlite3 every statement runs on the event loop, so an automatic checkpoint inside a commit
 * stalls every request behind it (the p99 spikes of the token endpoint). A second connection on a
 * worker thread runs PASSIVE checkpoints, which never wait for or block readers and writers; the main
 * connection keeps a high automatic threshold only as a safety net should the worker die.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS evaluated in the worker: no TypeScript loader is needed there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
const checkpoint = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} };
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.postMessage('stopped');
});
`;

/** The main connection checkpoints by itself only past this many WAL pages (about 400 MB). */
export const SAFETY_NET_PAGES = 100_000;

export class BackgroundCheckpointer {
  private readonly worker: Worker;

  constructor(path: string, intervalMs = 1000) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, intervalMs } });
    this.worker.unref();
    this.worker.on('error', () => {});
  }

  async stop(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.worker.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.worker.postMessage('stop');
    await stopped;
    await this.worker.terminate();
  }
}
