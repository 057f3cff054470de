"""The engine: units of work and the executors that run them, the runner, MLflow tracking with
its store, ownership and remote-server handling, progress bars and HPC clusters."""
