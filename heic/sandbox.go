package heic

/*
#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define IMGB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define IMGB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

// imgb_sandbox installs a seccomp filter on every thread of the process
// (TSYNC) that fails with EPERM what a decoder never needs once its input
// is in memory: opening or changing files, sockets, running programs,
// signalling or tracing other processes. Other architectures' system
// calls (int 0x80, x32) are refused too. Returns 0, or errno.
static int imgb_sandbox(void) {
#ifndef IMGB_AUDIT_ARCH
	return ENOSYS;
#else
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IMGB_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		DENY(__NR_open), DENY(__NR_creat), DENY(__NR_fork), DENY(__NR_vfork), DENY(__NR_mkdir), DENY(__NR_rmdir),
		DENY(__NR_unlink), DENY(__NR_rename), DENY(__NR_link), DENY(__NR_symlink), DENY(__NR_chmod), DENY(__NR_chown),
#endif
		DENY(__NR_openat), DENY(__NR_open_by_handle_at), DENY(__NR_name_to_handle_at),
		DENY(__NR_mkdirat), DENY(__NR_unlinkat), DENY(__NR_renameat2), DENY(__NR_linkat),
		DENY(__NR_symlinkat), DENY(__NR_fchmodat), DENY(__NR_fchownat), DENY(__NR_truncate), DENY(__NR_mount),
		DENY(__NR_socket), DENY(__NR_socketpair), DENY(__NR_connect), DENY(__NR_bind), DENY(__NR_listen),
		DENY(__NR_accept), DENY(__NR_accept4), DENY(__NR_execve), DENY(__NR_execveat), DENY(__NR_ptrace),
		DENY(__NR_process_vm_readv), DENY(__NR_process_vm_writev), DENY(__NR_kill), DENY(__NR_memfd_create),
#ifdef __NR_openat2
		DENY(__NR_openat2),
#endif
#ifdef __NR_renameat
		DENY(__NR_renameat),
#endif
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
	long rc = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (rc < 0) return errno;
	if (rc > 0) return EAGAIN; // a thread could not be synchronised
	return 0;
#endif
}
*/
import "C"

import "syscall"

// sandbox confines the helper once libheif is loaded and the source is in
// memory: no files opened or changed, no sockets, no programs run, no
// other process signalled or traced (seccomp, all threads). A decoder
// exploited through a crafted file then has no network and no credentials
// (the helper also runs without the worker's environment: see
// Decoder.Env). Where seccomp is unavailable (an old kernel, a container
// profile that forbids it) the helper runs with its rlimits only.
func sandbox() error {
	if e := C.imgb_sandbox(); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}
