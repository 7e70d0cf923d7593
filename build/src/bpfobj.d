build/src/bpfobj.o: src/bpfobj.c src/audit.h src/bpfobj.h src/config.h \
 src/cidr.h src/diag.h src/log.h src/objcheck.h src/util.h
src/audit.h:
src/bpfobj.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/objcheck.h:
src/util.h:
