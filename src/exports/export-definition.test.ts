import { describe, expect, it } from 'vitest';
import { scheduleSchema } from './export-definition.js';

const problemOf = (value: string) => {
  const result = scheduleSchema.safeParse(value);
  return result.success ? undefined : result.error.issues[0]?.message;
};

describe('export schedules', () => {
  it('takes refresh, none, and a five-field cron or a nickname with a time zone', () => {
    for (const value of [
      'refresh',
      'none',
      'cron:0 6 * * *@Europe/Madrid',
      'cron:*/15 8-18 * * 1-5@America/New_York',
      'cron:@daily@UTC',
    ])
      expect(problemOf(value)).toBeUndefined();
  });

  it('names what is wrong with any other', () => {
    expect(problemOf('daily')).toMatch(/expected "refresh", "none" or "cron:EXPR@TIME_ZONE"/);
    expect(problemOf('cron:0 6 * * *')).toMatch(/expected "refresh"/);
    expect(problemOf('cron:0 6 * * *@Moon/Base')).toBe('unknown time zone "Moon/Base"');
    expect(problemOf('cron:61 6 * * *@UTC')).toMatch(/invalid cron expression "61 6 \* \* \*"/);
    // Six fields would be read as seconds first: minute 6 of every hour, not 6 o'clock.
    expect(problemOf('cron:0 6 * * * *@UTC')).toMatch(/expected 5 fields .* got 6/);
    expect(problemOf('cron:0 6 * *@UTC')).toMatch(/expected 5 fields .* got 4/);
    expect(problemOf('cron:0 0 31 2 *@UTC')).toBe('cron expression "0 0 31 2 *" never fires');
  });
});
