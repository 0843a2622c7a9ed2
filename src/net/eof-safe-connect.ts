import type { Socket } from 'node:net';
import { Pool, buildConnector, type Dispatcher } from 'undici';

/**
 * undici 7's HTTP/1 parser asserts that it is not paused when the socket ends. It pauses when a
 * response body is read slower than it arrives (backpressure), so a server that closes the
 * connection right after the body (HTTP/1.0 servers such as `python3 -m http.server`, or
 * `Connection: close`) crashes the process with an uncatchable `assert(!this.paused)` from the
 * socket's 'end' handler (undici issue #5360, fixed upstream in undici 8 / PR #5474).
 *
 * The work-around here: every socket cake's dispatchers open goes through {@link eofSafeConnector},
 * which holds the socket's 'end' event back while the parser is paused and delivers it once the
 * body has been read far enough for the parser to resume. Nothing else about the socket changes.
 */

type Connector = buildConnector.connector;
type ConnectorCallback = Parameters<Connector>[1];

interface PausableParser {
  paused: boolean;
  resume(): void;
}

const PATCHED = Symbol('cake.eofSafe');

/** undici keeps the parser on the socket under a private symbol named 'parser'. */
function parserOf(socket: Socket): PausableParser | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'parser');
  const parser = key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
  if (parser === null || typeof parser !== 'object') return undefined;
  const p = parser as Partial<PausableParser>;
  return typeof p.paused === 'boolean' && typeof p.resume === 'function' ? (p as PausableParser) : undefined;
}

/** Makes `socket` deliver 'end' to undici only while its parser is not paused. Idempotent. */
export function deferEndWhilePaused(socket: Socket): void {
  const s = socket as Socket & { [PATCHED]?: true };
  if (s[PATCHED]) return;
  s[PATCHED] = true;
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  let waiting = false;
  const deliverWhenResumed = (parser: PausableParser): void => {
    if (waiting) return;
    waiting = true;
    const resume = parser.resume;
    parser.resume = function (this: PausableParser): void {
      resume.call(this);
      if (!this.paused) {
        parser.resume = resume;
        // After the body's read() returns: undici's 'end' handler completes the response.
        setImmediate(() => {
          waiting = false;
          if (!socket.destroyed) socket.emit('end');
        });
      }
    };
  };
  socket.emit = function (event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'end') {
      const parser = parserOf(socket);
      if (parser?.paused) {
        deliverWhenResumed(parser);
        return true;
      }
    }
    return emit(event, ...args);
  } as Socket['emit'];
}

/** Wraps a connector (a function, or undici connect options) so its sockets defer 'end' while paused. */
export function eofSafeConnector(connect: Connector | buildConnector.BuildOptions | undefined): Connector {
  const inner: Connector = typeof connect === 'function' ? connect : buildConnector({ ...(connect ?? {}) });
  return (opts, callback: ConnectorCallback) =>
    inner(opts, ((err: Error | null, socket: Socket | null) => {
      if (socket) deferEndWhilePaused(socket);
      (callback as (err: Error | null, socket: Socket | null) => void)(err, socket);
    }) as ConnectorCallback);
}

/** An undici `factory` (Agent, ProxyAgent) whose pools connect through {@link eofSafeConnector}. */
export function eofSafeFactory(origin: string | URL, opts: object): Dispatcher {
  const { connect, ...rest } = opts as Pool.Options;
  return new Pool(origin, { ...rest, connect: eofSafeConnector(connect as Connector | buildConnector.BuildOptions | undefined) });
}
