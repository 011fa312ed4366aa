/*
 * nosync.c: an LD_PRELOAD library for make bench only, never for use: fsync,
 * fdatasync and syncfs return at once without syncing.  A sign run with it
 * gives what signet costs on the disk apart from its waits for the disk to
 * make writes durable, the floor any removal of fsyncs could reach
 * (docs/store.md, "What each fsync of a sign is for").
 */
int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);

int fsync(int fd)
{
	(void)fd;
	return 0;
}

int fdatasync(int fd)
{
	(void)fd;
	return 0;
}

int syncfs(int fd)
{
	(void)fd;
	return 0;
}
