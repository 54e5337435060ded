import { describe, expect, it } from 'vitest';
import { sniff } from '../../../src/datasets/image/sniff.ts';
import { buildZip, ftypFile, photoAvif, photoJpeg, photoPng, photoWebp, plainText, svgImage } from '../../support/images.ts';

describe('sniff (type from magic bytes only)', () => {
  it('recognises the accepted image formats from real encoder output', async () => {
    expect(sniff(await photoJpeg({ width: 64, height: 48 }))).toEqual({ kind: 'image', format: 'jpeg' });
    expect(sniff(await photoPng({ width: 64, height: 48 }))).toEqual({ kind: 'image', format: 'png' });
    expect(sniff(await photoWebp({ width: 64, height: 48 }))).toEqual({ kind: 'image', format: 'webp' });
    expect(sniff(await photoAvif({ width: 64, height: 48 }))).toEqual({ kind: 'image', format: 'avif' });
  });

  it('tells AVIF, HEIC and video apart by their ftyp brands', () => {
    expect(sniff(ftypFile('heic'))).toEqual({ kind: 'image', format: 'heic' });
    expect(sniff(ftypFile('mif1', ['mif1', 'heic']))).toEqual({ kind: 'image', format: 'heic' });
    expect(sniff(ftypFile('avis', ['avis', 'msf1']))).toEqual({ kind: 'image', format: 'avif' });
    expect(sniff(ftypFile('isom', ['isom', 'mp41']))).toMatchObject({ kind: 'refused', detected: 'video' });
    expect(sniff(ftypFile('crx ', ['crx ']))).toMatchObject({ kind: 'refused', code: 'unsupported_type' });
  });

  it('recognises zip archives, including an empty one', () => {
    expect(sniff(buildZip([{ name: 'a.txt', data: Buffer.from('x') }]))).toEqual({ kind: 'zip' });
    expect(sniff(buildZip([]))).toEqual({ kind: 'zip' });
  });

  it('refuses SVG even with a BOM and leading whitespace, explaining why', () => {
    const svg = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n  '), svgImage()]);
    const result = sniff(svg);
    expect(result).toMatchObject({ kind: 'refused', code: 'unsupported_type', detected: 'svg' });
    expect(result.kind === 'refused' && result.reason).toMatch(/SVG/);
  });

  it('refuses other formats with a specific reason', () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'gif'],
      [Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]), 'tiff'],
      [Buffer.from('BM\x00\x00\x00\x00', 'latin1'), 'bmp'],
      [Buffer.from('%PDF-1.7\n'), 'pdf'],
      [Buffer.from('<!DOCTYPE html><html></html>'), 'html'],
      [Buffer.from([0x1f, 0x8b, 8, 0]), 'archive'],
      [plainText(), 'unknown'],
    ];
    for (const [bytes, detected] of cases) expect(sniff(bytes), detected).toMatchObject({ kind: 'refused', code: 'unsupported_type', detected });
  });

  it('says an empty file is empty', () => {
    expect(sniff(Buffer.alloc(0))).toMatchObject({ kind: 'refused', code: 'empty_file' });
  });

  it('does not trust a JPEG-looking name or a partial signature', () => {
    expect(sniff(Buffer.from([0xff, 0xd8]))).toMatchObject({ kind: 'refused' });
    expect(sniff(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toMatchObject({ kind: 'refused' });
  });
});
