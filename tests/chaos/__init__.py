"""A black-box chaos run: real master and workers, real jobs, a seeded fault schedule,
and an independent watcher of ffmpeg processes (`python -m tests.chaos.run`)."""
