// Preloaded (`node --import`) into every process the cluster harness spawns: when the test process
// that started it dies without cleaning up (killed runner, crash), the child is reparented and
// kills itself, so no role process outlives its test.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGKILL");
}, 500).unref();
