"""`harvester start`: the scheduler's loop, the runner of one job, backfill, the composition root
(`runtime`) and the service around them."""
