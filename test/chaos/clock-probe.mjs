// Preloaded (node --import) into a replica whose clocks libfaketime skews. The harness asks it over the IPC
// channel for its process.hrtime.bigint(); a ping-pong gives a (real, faked) pair of CLOCK_MONOTONIC readings,
// from which the checker maps the replica's event times back to the real clock (and measures the rate).
if (process.send) {
  process.on('message', (message) => {
    if (message && typeof message === 'object' && 'clockPing' in message) {
      process.send({ clockPong: message.clockPing, at: process.hrtime.bigint().toString() });
    }
  });
  // The channel must not keep the replica alive after a SIGTERM shutdown.
  process.channel?.unref();
}
