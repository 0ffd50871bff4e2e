int kvm(void) { return 0; }
