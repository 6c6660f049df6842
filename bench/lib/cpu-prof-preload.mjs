// Loaded with `node --import` (NODE_OPTIONS refuses --cpu-prof): the first SIGUSR2 starts
// the V8 CPU profiler, the second writes $SHOAL_CPU_PROF_DIR/<label>-<pid>.cpuprofile, so a
// profile covers only the workload the bench is running, not start-up.
import { Session } from 'node:inspector';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.SHOAL_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let running = false;
  let label = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () => {
        session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start'));
      });
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      label++;
      writeFileSync(join(dir, `p${label}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
