"""Imported by the workers' forkserver only, as it starts (warehouse.parallel preloads it):
the forkserver then gets SIGTERM when the run that started it dies, even by SIGKILL or the
OOM killer, and its workers with it (each asks for the same as it starts). Otherwise they
outlive such a run, waiting for chunks that never come (measured: a run killed outright
while staging left its forkserver and both workers, about 100 MB each, for good).

A forkserver whose run died before this ran sees its run's end by itself: it exits when the
pipe the run holds open closes, as long as it has no worker yet, which it cannot have here.
"""

from warehouse.parallel import die_with_parent

die_with_parent()
