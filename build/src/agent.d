build/src/agent.o: src/agent.c src/agent.h src/api.h src/audit.h \
 src/config.h src/cidr.h src/diag.h src/log.h src/guard.h \
 include/aegis/guard.h src/bpfobj.h src/cli.h src/client.h src/mounts.h \
 src/probe.h src/util.h
src/agent.h:
src/api.h:
src/audit.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/guard.h:
include/aegis/guard.h:
src/bpfobj.h:
src/cli.h:
src/client.h:
src/mounts.h:
src/probe.h:
src/util.h:
