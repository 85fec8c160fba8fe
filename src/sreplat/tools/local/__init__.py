"""Tools of the local target: supervisord, ports, processes, probes, release dirs, prerequisites."""
