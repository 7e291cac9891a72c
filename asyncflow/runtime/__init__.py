"""Running one unit of work: a task try, a sensor poke loop."""
