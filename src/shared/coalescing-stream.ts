/**
 * Joins a byte stream's chunks into chunks of at least `minBytes` (the last one may be shorter),
 * unchanged otherwise. A socket hands over 64 KB at a time; each chunk written to an inflater is a
 * round trip between the main thread and a pool thread, so fewer, larger chunks keep the inflater busy.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class CoalescingStream extends Transform {
  private parts: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly minBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.parts.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= this.minBytes) done(null, this.joinParts());
    else done();
  }

  override _flush(done: TransformCallback): void {
    done(null, this.bytes > 0 ? this.joinParts() : undefined);
  }

  private joinParts(): Buffer {
    const joined = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return joined;
  }
}
