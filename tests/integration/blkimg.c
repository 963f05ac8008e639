/*
 * Disk images for the virtio-blk tests, with the patterns the virtio_blk
 * guest expects: sector s, byte i holds (s * 31 + i * 7 + 1) in sectors 0-63
 * (pattern A, written by the host) and (s * 13 + i * 3 + 5) in sectors
 * 64-127 once the guest has written them (pattern B).
 *
 *   blkimg create PATH SECTORS   pattern A in 0-63, zeroes after
 *   blkimg check PATH a|ab       0-63 hold A; with ab, 64-127 hold B as well
 *   blkimg stat PATH             ext4: mount count and last mount time
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t pat_a(unsigned s, unsigned i) { return (uint8_t)(s * 31 + i * 7 + 1); }
static uint8_t pat_b(unsigned s, unsigned i) { return (uint8_t)(s * 13 + i * 3 + 5); }

static int create(const char *path, unsigned long sectors)
{
	FILE *f = fopen(path, "wb");
	uint8_t sec[512];

	if (!f || sectors < 128)
		return 1;
	for (unsigned long s = 0; s < sectors; s++) {
		for (unsigned i = 0; i < 512; i++)
			sec[i] = s < 64 ? pat_a((unsigned)s, i) : 0;
		if (fwrite(sec, 1, 512, f) != 512)
			return 1;
	}
	return fclose(f) ? 1 : 0;
}

static int check(const char *path, int with_b)
{
	FILE *f = fopen(path, "rb");
	uint8_t sec[512];

	if (!f)
		return 1;
	for (unsigned s = 0; s < (with_b ? 128u : 64u); s++) {
		if (fread(sec, 1, 512, f) != 512)
			return 1;
		for (unsigned i = 0; i < 512; i++) {
			uint8_t want = s < 64 ? pat_a(s, i) : pat_b(s, i);

			if (sec[i] != want) {
				printf("sector %u byte %u: 0x%02x, expected 0x%02x\n", s, i, sec[i], want);
				return 1;
			}
		}
	}
	printf("%s: sectors 0-%u hold the expected patterns\n", path, with_b ? 127 : 63);
	return 0;
}

/* The ext4 superblock sits 1024 bytes in: mount count at +0x34, last mount time at +0x2c. */
static int stat_ext4(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t sb[1024];
	uint16_t magic, count;
	uint32_t mtime;

	if (!f || fseek(f, 1024, SEEK_SET) || fread(sb, 1, sizeof(sb), f) != sizeof(sb))
		return 1;
	memcpy(&magic, sb + 0x38, 2);
	memcpy(&count, sb + 0x34, 2);
	memcpy(&mtime, sb + 0x2c, 4);
	if (magic != 0xef53)
		return 1;
	printf("mounts=%u mtime=%u\n", count, mtime);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "create"))
		return create(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], !strcmp(argv[3], "ab"));
	if (argc == 3 && !strcmp(argv[1], "stat"))
		return stat_ext4(argv[2]);
	fprintf(stderr, "usage: blkimg create PATH SECTORS | check PATH a|ab | stat PATH\n");
	return 2;
}
