import { describe, expect, it } from 'vitest';
import { csvCell } from './runs.js';

describe('runs errors --csv cells', () => {
  it('quotes separators, quotes and line breaks', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(null)).toBe('');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
  });

  it('keeps a spreadsheet from running a value as a formula', () => {
    expect(csvCell('=1+2@example.com')).toBe("'=1+2@example.com");
    expect(csvCell("=cmd|' /c calc'!a0")).toBe("'=cmd|' /c calc'!a0");
    expect(csvCell('+34 600')).toBe("'+34 600");
    expect(csvCell('-5')).toBe("'-5");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('=HYPERLINK("x","y"),z')).toBe('"\'=HYPERLINK(""x"",""y""),z"');
    expect(csvCell('a=b')).toBe('a=b');
  });
});
