#!/usr/bin/env bash
# The NVMe hot-removal guest test (nvme_guest.sh) with the drive bound to vfio-pci behind
# QEMU's emulated IOMMU (intel-iommu, the guest booted with intel_iommu=on) and iscsi_tgt at
# --iova-mode=va: every step as there, the removal announced to keel by vfio-pci's device
# request interrupt.
KEEL_VM_NVME_DRIVER=vfio-pci exec bash "$(dirname "$0")/nvme_guest.sh"
