build/src/routes.o: src/routes.c src/agent.h src/api.h src/audit.h \
 src/config.h src/cidr.h src/diag.h src/log.h src/guard.h \
 include/aegis/guard.h src/bpfobj.h src/bpfinfo.h src/probe.h src/util.h
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
src/bpfinfo.h:
src/probe.h:
src/util.h:
