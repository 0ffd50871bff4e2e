#!/bin/sh
# A workload of one's own, copied into the guest at run time: it says
# which guest it runs in and whether that guest can drive KVM itself.
echo "host=$(hostname) kvm=$(test -c /dev/kvm && echo yes || echo no) arg=$1"
