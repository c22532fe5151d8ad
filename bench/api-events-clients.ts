/**
 * The two clients of the api-events benchmark, in a process of their own so
 * that their memory is not counted as the server's: one reads every event,
 * the other stops reading right after its welcome (its TCP socket is paused,
 * as a frozen browser tab's would be). On "report" from stdin (sent after the
 * recording stopped) it waits until the reader has seen transcript.finished,
 * prints one JSON line with what each saw, and exits.
 *
 *   node --import tsx bench/api-events-clients.ts ws://127.0.0.1:PORT/api?token=...
 */
import readline from 'node:readline';
import WebSocket from 'ws';
import { API_VERSION } from '../src/core/api/version';

const url = process.argv[2]!;

interface Seen {
  events: number;
  /** transcript.finished arrived: every segment was sent before it. */
  finished: boolean;
  segmentIds: number[];
  closed: boolean;
  bye: string | null;
}

function connect(stopReading: boolean): Promise<Seen> {
  const seen: Seen = { events: 0, finished: false, segmentIds: [], closed: false, bye: null };
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', apiVersion: API_VERSION })));
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as {
        type: string;
        event?: { type: string; segment?: { id: number } };
        error?: { code: string };
      };
      if (m.type === 'welcome') {
        if (stopReading) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
        resolve(seen);
        return;
      }
      if (m.type === 'bye') seen.bye = m.error?.code ?? 'unknown';
      if (m.type !== 'event' || !m.event) return;
      seen.events++;
      if (m.event.type === 'transcript.segment') seen.segmentIds.push(m.event.segment!.id);
      if (m.event.type === 'transcript.finished') seen.finished = true;
    });
    ws.on('close', () => (seen.closed = true));
    ws.on('error', reject);
  });
}

const [reader, stuck] = await Promise.all([connect(false), connect(true)]);
process.stdout.write('ready\n');
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'report') return;
  // The reader may still be reading the last events: wait for the end (10 s at most).
  const started = Date.now();
  const poll = setInterval(() => {
    if (!reader.finished && Date.now() - started < 10_000) return;
    clearInterval(poll);
    process.stdout.write(JSON.stringify({ reader, stuck }) + '\n');
    process.exit(0);
  }, 20);
});
