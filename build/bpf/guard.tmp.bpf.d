build/bpf/guard.tmp.bpf.o: bpf/guard.bpf.c include/vmlinux.h \
  include/aegis/guard.h bpf/lib/parse.h

include/vmlinux.h:

include/aegis/guard.h:

bpf/lib/parse.h:
