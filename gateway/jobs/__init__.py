"""Jobs: their rows (repository), the queue discipline (queue), the worker that runs them and
the results they produce."""
