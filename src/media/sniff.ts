/** Bytes needed to recognise every image format {@link imageMime} knows. */
export const SNIFF_BYTES = 12;

/**
 * The image type of a file from its first bytes, or undefined when it is not an image
 * format ComfyUI or A1111 read (PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF/HEIC).
 */
export function imageMime(head: Buffer): string | undefined {
  const starts = (bytes: number[], offset = 0): boolean =>
    head.length >= offset + bytes.length && bytes.every((byte, i) => head[offset + i] === byte);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts([0x47, 0x49, 0x46, 0x38])) return 'image/gif';
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp';
  if (starts([0x42, 0x4d])) return 'image/bmp';
  if (starts([0x49, 0x49, 0x2a, 0x00]) || starts([0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff';
  if (starts([0x66, 0x74, 0x79, 0x70], 4)) {
    const brand = head.subarray(8, 12).toString('latin1');
    if (brand.startsWith('avi')) return 'image/avif';
    if (brand.startsWith('hei') || brand === 'mif1') return 'image/heic';
  }
  return undefined;
}
