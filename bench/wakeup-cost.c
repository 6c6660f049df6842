// What one process waking another costs on this machine: two processes bounce a byte over
// a pair of pipes, pinned to the same CPU or to two different ones. Every hop between Shoal's
// processes (client → coordinator → replica → coordinator → client, loop → libuv pool → loop)
// is such a wake-up. (Making the cross-CPU case cheap did not change the cluster's cost per
// operation here: docs/BENCHMARKS.md, "What a sleep costs here".)
//
// `sleep` mode measures what one sleep costs a process that wakes by itself: nanosleep in a
// loop, CPU per cycle. A server at part load sleeps between requests and pays this each time
// (docs/BENCHMARKS.md, "What a sleep costs here").
//
//   gcc -O2 -o /tmp/wakeup-cost bench/wakeup-cost.c && /tmp/wakeup-cost 0 1 100000
//   (arguments: CPU of the first process, CPU of the second, round trips)
//   /tmp/wakeup-cost sleep 1000 1000   (arguments: µs per sleep, cycles)
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    perror("sched_setaffinity");
    exit(1);
  }
}

static double seconds(const struct timeval *tv) { return tv->tv_sec + tv->tv_usec / 1e6; }

static int sleep_cost(long us, long n) {
  if (us <= 0 || us > 1000000 || n <= 0 || n > 1000000) {
    fprintf(stderr, "sleep: µs between 1 and 1e6, cycles between 1 and 1e6\n");
    return 2;
  }
  const struct timespec gap = {us / 1000000, (us % 1000000) * 1000};
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  const double t0 = now();
  for (long i = 0; i < n; i++) nanosleep(&gap, NULL);
  const double wall = now() - t0;
  getrusage(RUSAGE_SELF, &after);
  const double cpu = seconds(&after.ru_utime) + seconds(&after.ru_stime) - seconds(&before.ru_utime) - seconds(&before.ru_stime);
  printf("sleep %ld us: %.2f us of wall time and %.2f us of CPU per cycle\n", us, wall / n * 1e6, cpu / n * 1e6);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && argv[1][0] == 's') return sleep_cost(atol(argv[2]), atol(argv[3]));
  if (argc != 4) {
    fprintf(stderr, "usage: %s <cpu a> <cpu b> <round trips> | sleep <us> <cycles>\n", argv[0]);
    return 2;
  }
  const int cpu_a = atoi(argv[1]), cpu_b = atoi(argv[2]);
  const long n = atol(argv[3]);
  if (n <= 0 || n > 100000000) {
    fprintf(stderr, "round trips must be between 1 and 1e8\n");
    return 2;
  }
  int there[2], back[2];
  if (pipe(there) != 0 || pipe(back) != 0) {
    perror("pipe");
    return 1;
  }
  char c = 'x';
  const pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    pin(cpu_b);
    for (long i = 0; i < n; i++) {
      if (read(there[0], &c, 1) != 1 || write(back[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  pin(cpu_a);
  usleep(10000);  // let the child pin itself and block in read()
  const double t0 = now();
  for (long i = 0; i < n; i++) {
    if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) {
      perror("round trip");
      return 1;
    }
  }
  const double wall = now() - t0;
  int status;
  waitpid(child, &status, 0);
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  const double cpu = seconds(&self.ru_utime) + seconds(&self.ru_stime) + seconds(&kids.ru_utime) + seconds(&kids.ru_stime);
  printf("cpus %d,%d: %.2f us of wall time and %.2f us of CPU (both processes) per round trip\n", cpu_a, cpu_b,
         wall / n * 1e6, cpu / n * 1e6);
  return 0;
}
