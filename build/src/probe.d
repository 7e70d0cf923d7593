build/src/probe.o: src/probe.c src/cli.h src/config.h src/cidr.h \
 src/diag.h src/log.h src/mounts.h src/netns.h src/probe.h src/util.h
src/cli.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/mounts.h:
src/netns.h:
src/probe.h:
src/util.h:
