import { AppError, type ErrorCode } from '../../shared/errors.ts';

/** Why one uploaded file was refused; `message` is written for the person who uploaded it. */
export type ImageRejectionCode =
  | 'empty_file'
  | 'unsupported_type'
  | 'too_large_bytes'
  | 'too_many_pixels'
  | 'truncated'
  | 'corrupt';

const APP_CODES: Record<ImageRejectionCode, ErrorCode> = {
  empty_file: 'validation_failed',
  unsupported_type: 'unsupported_media_type',
  too_large_bytes: 'payload_too_large',
  too_many_pixels: 'payload_too_large',
  truncated: 'validation_failed',
  corrupt: 'validation_failed',
};

export class ImageRejectedError extends AppError {
  readonly reason: ImageRejectionCode;
  readonly fileName: string;
  constructor(reason: ImageRejectionCode, fileName: string, explanation: string) {
    super(APP_CODES[reason], `"${fileName}": ${explanation}`, { file: fileName, reason });
    this.name = 'ImageRejectedError';
    this.reason = reason;
    this.fileName = fileName;
  }
}

export type ZipRejectionCode = 'not_a_zip' | 'corrupt_zip' | 'unsafe_entry_name' | 'too_many_entries' | 'too_large_inflated' | 'entry_too_large';

/** The whole archive is refused (as opposed to one file inside it being skipped). */
export class ZipRejectedError extends AppError {
  readonly reason: ZipRejectionCode;
  readonly fileName: string;
  constructor(reason: ZipRejectionCode, fileName: string, explanation: string) {
    super(reason === 'not_a_zip' || reason === 'corrupt_zip' || reason === 'unsafe_entry_name' ? 'validation_failed' : 'payload_too_large', `"${fileName}": ${explanation}`, {
      file: fileName,
      reason,
    });
    this.name = 'ZipRejectedError';
    this.reason = reason;
    this.fileName = fileName;
  }
}
