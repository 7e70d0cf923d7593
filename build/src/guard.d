build/src/guard.o: src/guard.c src/guard.h include/aegis/guard.h \
 src/audit.h src/bpfobj.h src/config.h src/cidr.h src/diag.h src/log.h \
 build/guard.skel.h src/iface.h src/util.h
src/guard.h:
include/aegis/guard.h:
src/audit.h:
src/bpfobj.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
build/guard.skel.h:
src/iface.h:
src/util.h:
