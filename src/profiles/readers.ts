import { ValidationError } from '../shared/errors.js';

/**
 * Streaming readers for import files: strict UTF-8 (with or without BOM), CSV with `,` or `;`
 * and quoted fields, and JSON Lines. They hold one chunk and one record at a time, so memory
 * stays flat whatever the file size, and they name the line of every problem.
 */

/** The file itself is broken (not one row): the import writes nothing. */
export class MalformedFileError extends ValidationError {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(
      `malformed file: line ${line}: ${detail}`,
      [{ path: `line ${line}`, message: detail }],
      'malformed_file',
    );
  }
}

/** One CSV record: its fields and the line it starts on (1-based; the header is line 1). */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** One JSON Lines record: the parsed value and its line. */
export interface JsonRecord {
  line: number;
  value: unknown;
}

export type ByteSource = AsyncIterable<Uint8Array | string>;

/**
 * Decodes `source` as UTF-8, failing with the line of the first invalid byte sequence. A leading
 * BOM is dropped (TextDecoder's default).
 */
export async function* decodeUtf8(source: ByteSource): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  for await (const chunk of source) {
    if (typeof chunk === 'string') {
      line += countNewlines(chunk);
      yield chunk;
      continue;
    }
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      // Locate the bad bytes: the lenient decoder marks them with U+FFFD.
      const lenient = new TextDecoder('utf-8').decode(chunk);
      const at = lenient.indexOf('\uFFFD');
      throw new MalformedFileError(
        line + countNewlines(lenient.slice(0, Math.max(0, at))),
        'invalid UTF-8 (save the file as UTF-8)',
      );
    }
    line += countNewlines(text);
    if (text !== '') yield text;
  }
  try {
    const rest = decoder.decode();
    if (rest !== '') yield rest;
  } catch {
    throw new MalformedFileError(
      line,
      'invalid UTF-8 at the end of the file (a cut-off character)',
    );
  }
}

function countNewlines(text: string): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

const QUOTE = 34;
const LF = 10;
const CR = 13;
const COMMA = 44;
const SEMICOLON = 59;

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
}

/**
 * Reads CSV records from decoded text chunks, yielding them in arrays (one per chunk). The
 * delimiter is `,` or `;`, whichever occurs more often outside quotes on the first line. Blank
 * lines are skipped; CRLF and LF both end records; `""` inside a quoted field is one quote.
 * An unterminated quote is a MalformedFileError naming the line where the quote opened.
 */
export async function* readCsv(chunks: AsyncIterable<string>): AsyncGenerator<CsvRecord[]> {
  let parser: CsvParser | undefined;
  let pending = '';
  for await (const chunk of chunks) {
    if (!parser) {
      pending += chunk;
      const delimiter = detectDelimiter(pending);
      if (delimiter === undefined) continue;
      parser = new CsvParser(delimiter);
      const records = parser.push(pending);
      pending = '';
      if (records.length > 0) yield records;
      continue;
    }
    const records = parser.push(chunk);
    if (records.length > 0) yield records;
  }
  if (!parser) {
    parser = new CsvParser(detectDelimiter(pending, true) ?? COMMA);
    const records = parser.push(pending);
    if (records.length > 0) yield records;
  }
  const last = parser.end();
  if (last.length > 0) yield last;
}

/** The delimiter of the first line, or undefined while that line is incomplete. */
function detectDelimiter(text: string, atEnd = false): number | undefined {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) quoted = !quoted;
    else if (quoted) continue;
    else if (c === COMMA) commas++;
    else if (c === SEMICOLON) semicolons++;
    else if (c === LF) return semicolons > commas ? SEMICOLON : COMMA;
  }
  return atEnd ? (semicolons > commas ? SEMICOLON : COMMA) : undefined;
}

class CsvParser {
  private state = State.FieldStart;
  private field = '';
  private fields: string[] = [];
  private quotedRecord = false;
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;

  constructor(private readonly delimiter: number) {}

  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    const delimiter = this.delimiter;
    const n = text.length;
    let start = 0;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      switch (this.state) {
        case State.FieldStart:
          if (this.fields.length === 0 && this.field === '') this.recordLine = this.line;
          if (c === QUOTE) {
            this.state = State.Quoted;
            this.quotedRecord = true;
            this.quoteLine = this.line;
            start = ++i;
          } else if (c === delimiter) {
            this.fields.push('');
            i++;
          } else if (c === LF) {
            this.fields.push('');
            this.endRecord(out);
            this.line++;
            i++;
          } else {
            this.state = State.Unquoted;
            start = i;
          }
          break;
        case State.Unquoted: {
          // Skip ahead to the next delimiter or line end in one scan.
          while (i < n) {
            const d = text.charCodeAt(i);
            if (d === delimiter || d === LF) break;
            i++;
          }
          if (i === n) break;
          let value = this.field + text.slice(start, i);
          this.field = '';
          if (text.charCodeAt(i) === delimiter) {
            this.fields.push(value);
            this.state = State.FieldStart;
          } else {
            if (value.charCodeAt(value.length - 1) === CR) value = value.slice(0, -1);
            this.fields.push(value);
            this.endRecord(out);
            this.line++;
          }
          i++;
          break;
        }
        case State.Quoted: {
          while (i < n) {
            const d = text.charCodeAt(i);
            if (d === QUOTE) break;
            if (d === LF) this.line++;
            i++;
          }
          if (i === n) break;
          this.field += text.slice(start, i);
          this.state = State.QuoteInQuoted;
          i++;
          break;
        }
        case State.QuoteInQuoted:
          if (c === QUOTE) {
            this.field += '"';
            this.state = State.Quoted;
            start = ++i;
          } else if (c === delimiter) {
            this.fields.push(this.field);
            this.field = '';
            this.state = State.FieldStart;
            i++;
          } else if (c === LF) {
            this.fields.push(this.field);
            this.field = '';
            this.state = State.FieldStart;
            this.endRecord(out);
            this.line++;
            i++;
          } else if (c === CR) {
            i++;
          } else {
            throw new MalformedFileError(
              this.line,
              `unexpected ${JSON.stringify(text.charAt(i))} after a closing quote (a quote inside a quoted field is written "")`,
            );
          }
          break;
      }
    }
    if (this.state === State.Unquoted || this.state === State.Quoted) {
      this.field += text.slice(start);
    }
    return out;
  }

  end(): CsvRecord[] {
    if (this.state === State.Quoted) {
      throw new MalformedFileError(
        this.quoteLine,
        'unterminated quoted field (a " is never closed)',
      );
    }
    const out: CsvRecord[] = [];
    if (this.state !== State.FieldStart || this.fields.length > 0) {
      let value = this.field;
      if (this.state === State.Unquoted && value.endsWith('\r')) value = value.slice(0, -1);
      this.fields.push(value);
      this.field = '';
      this.state = State.FieldStart;
      this.endRecord(out);
    }
    return out;
  }

  private endRecord(out: CsvRecord[]): void {
    const fields = this.fields;
    this.fields = [];
    this.state = State.FieldStart;
    // A blank line is one empty unquoted field: skip it.
    const blank = fields.length === 1 && fields[0] === '' && !this.quotedRecord;
    this.quotedRecord = false;
    if (!blank) out.push({ line: this.recordLine, fields });
  }
}

/**
 * Reads JSON Lines records from decoded text chunks. Blank lines are skipped; a line that is not
 * JSON makes the whole file malformed (its line is named).
 */
export async function* readJsonLines(chunks: AsyncIterable<string>): AsyncGenerator<JsonRecord[]> {
  let rest = '';
  let line = 1;
  for await (const chunk of chunks) {
    const text = rest + chunk;
    const out: JsonRecord[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      parseJsonLine(text.slice(start, end), line++, out);
      start = end + 1;
    }
    rest = text.slice(start);
    if (out.length > 0) yield out;
  }
  const out: JsonRecord[] = [];
  parseJsonLine(rest, line, out);
  if (out.length > 0) yield out;
}

function parseJsonLine(text: string, line: number, out: JsonRecord[]): void {
  if (text.trim() === '') return;
  try {
    out.push({ line, value: JSON.parse(text) as unknown });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new MalformedFileError(line, `not valid JSON (${detail})`);
  }
}
