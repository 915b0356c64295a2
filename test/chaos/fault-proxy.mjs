// A TCP fault proxy for one replica: it sits between the replica and the
// kube-apiserver, on loopback only, and forwards bytes untouched (TLS passes
// through; the kubeconfigs skip verification), unless told to misbehave:
//
//   pass       forward as they come.
//   blackhole  forward nothing, in either direction, on existing and new
//              connections, and keep every connection open: a partition.
//              The replica sees its requests hang until its own timeouts
//              fire. Bytes sent meanwhile are held and delivered on heal,
//              like TCP retransmissions, except that a side that closes its
//              connection during the partition loses the connection and
//              what it held (an aborted request never arrives).
//   delay      add `delayMs` of latency to every chunk in each direction,
//              keeping order: a slow network.
//   reset      destroy every connection with a TCP RST, and reset new ones
//              as soon as they are accepted.
//   oneway     a one-way partition: bytes toward the apiserver are
//              forwarded, bytes back are dropped. A request arrives and is
//              applied, but the replica never learns the answer. Connections
//              that lost bytes are reset when the mode changes (their TLS
//              stream is broken).
//   slow-watch delay, by `delayMs`, only the bytes the apiserver sends
//              unprompted, i.e. watch events: those that arrive more than
//              50 ms after the replica last sent anything on that
//              connection, unless they are the first bytes since it did
//              (an answer, however slow) or follow such bytes within 50 ms
//              (the rest of that answer). Answers to requests pass at once
//              (unless queued behind a delayed event on the same connection).
//
// setMode() switches at runtime and applies to existing connections at once.
// retarget() points new connections at another apiserver and resets the open
// ones, as a load balancer does when it moves a client.
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** Bytes held per direction while blackholed before the connection is dropped (a watch can stream a lot). */
const MAX_HELD_BYTES = 4 * 1024 * 1024;
/** How long a connection may stay half-closed before it is torn down. */
const GRACE_MS = 5000;
export const PROXY_MODES = ['pass', 'blackhole', 'delay', 'reset', 'oneway', 'slow-watch'];
/** In slow-watch mode, bytes from the apiserver this long after the replica's last bytes count as unprompted. */
const UNPROMPTED_AFTER_MS = 50;

function hardClose(socket, reset) {
  if (socket.destroyed) return;
  if (reset && typeof socket.resetAndDestroy === 'function') {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // not connected: a plain destroy will do
    }
  }
  socket.destroy();
}

/** One direction of a connection: a queue that honours the proxy's mode. */
class Pipe {
  constructor(proxy, connection, to, direction) {
    this.proxy = proxy;
    /** 'up' (replica to apiserver) or 'down'. */
    this.direction = direction;
    this.connection = connection;
    this.to = to;
    /** Chunks waiting, each with the time (performance.now) it may leave; 0 = at once. */
    this.queue = [];
    this.held = 0;
    this.timer = null;
    this.ending = false;
  }

  push(chunk) {
    const { mode, delayMs } = this.proxy;
    if (mode === 'reset') return;
    if (mode === 'oneway' && this.direction === 'down') {
      this.connection.damaged = true;
      this.proxy.stats.droppedBytes += chunk.length;
      return;
    }
    const at = performance.now();
    const delayed = mode === 'delay' || (mode === 'slow-watch' && this.direction === 'down' && !this.prompted(at));
    if (mode === 'slow-watch' && delayed) this.proxy.stats.delayedChunks++;
    this.queue.push({ chunk, due: delayed ? at + delayMs : 0 });
    this.held += chunk.length;
    if (this.held > MAX_HELD_BYTES) this.proxy.drop(this.connection);
    else this.pump();
  }

  /**
   * Whether bytes from the apiserver arriving at `at` answer the replica: sent soon after its last bytes, the
   * first since then (a slow answer), or the rest of such an answer. Records the chunk for the next call.
   */
  prompted(at) {
    const connection = this.connection;
    const prompted =
      at - connection.lastUpAt <= UNPROMPTED_AFTER_MS ||
      connection.lastDownAt < connection.lastUpAt ||
      (connection.lastDownPrompted && at - connection.lastDownAt <= UNPROMPTED_AFTER_MS);
    connection.lastDownAt = at;
    connection.lastDownPrompted = prompted;
    return prompted;
  }

  /** The source sent FIN or went away: forward the end after whatever is queued. */
  end() {
    this.ending = true;
    this.pump();
  }

  pump() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const { mode } = this.proxy;
    if (mode === 'blackhole' || mode === 'reset') return;
    // A one-way partition drops the answers (see push) and holds the apiserver's FIN.
    if (mode === 'oneway' && this.direction === 'down') return;
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.due > now) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(head.due - now));
        return;
      }
      this.queue.shift();
      this.held -= head.chunk.length;
      if (!this.to.destroyed && !this.to.writableEnded) this.to.write(head.chunk);
    }
    if (this.ending && !this.to.destroyed && !this.to.writableEnded) this.to.end();
  }

  clear() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.held = 0;
  }
}

/**
 * Starts a fault proxy on 127.0.0.1 (a free port unless `port` is given)
 * that forwards to `target`, which must be a loopback address.
 *
 * @param {{ target: { host: string, port: number }, port?: number, name?: string }} options
 */
export async function startFaultProxy(options) {
  const { target } = options;
  if (!LOOPBACK.has(target.host)) throw new Error(`fault proxy: target ${target.host} is not loopback`);
  const connections = new Set();
  const requestListeners = new Set();

  const proxy = {
    name: options.name ?? 'proxy',
    mode: 'pass',
    delayMs: 0,
    port: 0,
    target: { ...target },
    stats: { connections: 0, resets: 0, refused: 0, droppedBytes: 0, delayedChunks: 0 },
    /**
     * 'pass' | 'blackhole' | 'delay' or 'slow-watch' (with `delayMs` > 0) | 'reset' | 'oneway'. Applies to existing
     * connections at once.
     */
    setMode(mode, delayMs = 0) {
      if (!PROXY_MODES.includes(mode)) throw new Error(`fault proxy: unknown mode ${mode}`);
      if ((mode === 'delay' || mode === 'slow-watch') && !(delayMs > 0))
        throw new Error(`fault proxy: ${mode} mode needs delayMs > 0`);
      proxy.mode = mode;
      proxy.delayMs = mode === 'delay' || mode === 'slow-watch' ? delayMs : 0;
      if (mode !== 'oneway') {
        for (const connection of [...connections]) if (connection.damaged) proxy.drop(connection, true);
      }
      if (mode === 'reset') {
        for (const connection of [...connections]) proxy.drop(connection, true);
        return;
      }
      // Chunks already queued keep the latency they were given (they are in
      // flight); held ones leave now if the new mode forwards.
      for (const connection of connections) for (const pipe of connection.pipes) pipe.pump();
    },
    /** Sends new connections to `port` on loopback and resets the open ones (the replica reconnects there). */
    retarget(port) {
      proxy.target = { host: proxy.target.host, port };
      for (const connection of [...connections]) proxy.drop(connection, true);
    },
    /** Calls `listener` once, the next time the replica sends bytes toward the apiserver: a request is in flight. */
    onNextRequest(listener) {
      requestListeners.add(listener);
    },
    /** Destroys a connection on both sides, with an RST when `reset`. */
    drop(connection, reset = false) {
      if (!connections.delete(connection)) return;
      for (const pipe of connection.pipes) pipe.clear();
      hardClose(connection.client, reset);
      hardClose(connection.upstream, reset);
      if (reset) proxy.stats.resets++;
    },
    get openConnections() {
      return connections.size;
    },
    /** Closes every connection and the listener. */
    close() {
      requestListeners.clear();
      for (const connection of [...connections]) proxy.drop(connection);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    client.on('error', () => undefined);
    if (proxy.mode === 'reset') {
      proxy.stats.refused++;
      hardClose(client, true);
      return;
    }
    proxy.stats.connections++;
    const upstream = connect({ host: proxy.target.host, port: proxy.target.port, allowHalfOpen: true, noDelay: true });
    upstream.on('error', () => undefined);
    const connection = {
      client,
      upstream,
      pipes: [],
      damaged: false,
      lastUpAt: performance.now(),
      lastDownAt: Number.NEGATIVE_INFINITY,
      lastDownPrompted: false,
    };
    const toUpstream = new Pipe(proxy, connection, upstream, 'up');
    const toClient = new Pipe(proxy, connection, client, 'down');
    connection.pipes.push(toUpstream, toClient);
    connections.add(connection);

    client.on('data', (chunk) => {
      if (requestListeners.size > 0) {
        const listeners = [...requestListeners];
        requestListeners.clear();
        for (const listener of listeners) listener();
      }
      connection.lastUpAt = performance.now();
      toUpstream.push(chunk);
    });
    upstream.on('data', (chunk) => toClient.push(chunk));

    // The replica closing during a partition loses the connection and what it held.
    const replicaGone = () => (proxy.mode === 'blackhole' ? proxy.drop(connection) : toUpstream.end());
    client.on('end', replicaGone);
    client.on('close', () => {
      replicaGone();
      if (upstream.destroyed) connections.delete(connection);
      else setTimeout(() => proxy.drop(connection), GRACE_MS + proxy.delayMs).unref();
    });
    // The apiserver closing is held like any other byte while blackholed, and forwarded on heal.
    upstream.on('end', () => toClient.end());
    upstream.on('close', () => {
      toClient.end();
      if (client.destroyed) connections.delete(connection);
      else if (proxy.mode !== 'blackhole') setTimeout(() => proxy.drop(connection), GRACE_MS + proxy.delayMs).unref();
    });
  });
  server.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  proxy.port = server.address().port;
  return proxy;
}
