build/src/bpfinfo.o: src/bpfinfo.c src/bpfinfo.h src/util.h
src/bpfinfo.h:
src/util.h:
