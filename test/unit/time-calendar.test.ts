import { describe, expect, it } from 'vitest';
import { easterSunday, isNyseEarlyClose, isNyseTradingDay, nyseRuleCalendar } from '../../src/shared/calendar.js';
import { nyDateOf, nyMidnightUtc, nyWallToUtc } from '../../src/shared/time.js';

describe('New York time', () => {
  it('maps dates to UTC midnights across daylight saving', () => {
    expect(new Date(nyMidnightUtc('2024-01-02')).toISOString()).toBe('2024-01-02T05:00:00.000Z');
    expect(new Date(nyMidnightUtc('2024-07-01')).toISOString()).toBe('2024-07-01T04:00:00.000Z');
    expect(new Date(nyWallToUtc('2024-03-08', 9 * 60 + 30)).toISOString()).toBe('2024-03-08T14:30:00.000Z');
    expect(new Date(nyWallToUtc('2024-03-11', 9 * 60 + 30)).toISOString()).toBe('2024-03-11T13:30:00.000Z');
    expect(new Date(nyWallToUtc('2024-11-04', 9 * 60 + 30)).toISOString()).toBe('2024-11-04T14:30:00.000Z');
  });
  it('finds the New York date of an instant', () => {
    expect(nyDateOf(Date.parse('2024-02-01T00:59:00Z'))).toBe('2024-01-31');
    expect(nyDateOf(Date.parse('2024-02-01T05:00:00Z'))).toBe('2024-02-01');
    expect(nyDateOf(Date.parse('2024-07-01T03:59:59Z'))).toBe('2024-06-30');
  });
});

describe('NYSE rule calendar', () => {
  const holidays2023_2025 = [
    '2023-01-02', '2023-01-16', '2023-02-20', '2023-04-07', '2023-05-29', '2023-06-19', '2023-07-04', '2023-09-04', '2023-11-23', '2023-12-25',
    '2024-01-01', '2024-01-15', '2024-02-19', '2024-03-29', '2024-05-27', '2024-06-19', '2024-07-04', '2024-09-02', '2024-11-28', '2024-12-25',
    '2025-01-01', '2025-01-09', '2025-01-20', '2025-02-17', '2025-04-18', '2025-05-26', '2025-06-19', '2025-07-04', '2025-09-01', '2025-11-27', '2025-12-25',
  ];
  it.each(holidays2023_2025)('%s is a holiday', (d) => expect(isNyseTradingDay(d)).toBe(false));
  it('knows the observance rules', () => {
    expect(isNyseTradingDay('2021-12-31')).toBe(true); // Saturday New Year is not observed on Friday
    expect(isNyseTradingDay('2021-12-24')).toBe(false); // Saturday Christmas observed Friday
    expect(isNyseTradingDay('2022-06-20')).toBe(false); // Sunday Juneteenth observed Monday
    expect(isNyseTradingDay('2021-06-18')).toBe(true); // Juneteenth not a market holiday before 2022
    expect(easterSunday(2024)).toBe('2024-03-31');
  });
  it.each(['2023-07-03', '2023-11-24', '2024-07-03', '2024-11-29', '2024-12-24', '2025-07-03', '2025-11-28', '2025-12-24'])('%s closes early', (d) => {
    expect(isNyseEarlyClose(d)).toBe(true);
    const [s] = nyseRuleCalendar.sessions(d, d);
    expect(s.earlyClose).toBe(true);
    expect(new Date(s.close).toISOString().slice(11, 16)).toBe(d.slice(5, 7) === '07' ? '17:00' : '18:00');
  });
  it('has no early close on 2023-12-22 or 2022-07-01', () => {
    expect(isNyseEarlyClose('2023-12-22')).toBe(false);
    expect(isNyseEarlyClose('2022-07-01')).toBe(false);
  });
  it('counts sessions: 250 in 2023, 252 in 2024, 250 in 2025', () => {
    expect(nyseRuleCalendar.sessions('2023-01-01', '2023-12-31')).toHaveLength(250);
    expect(nyseRuleCalendar.sessions('2024-01-01', '2024-12-31')).toHaveLength(252);
    expect(nyseRuleCalendar.sessions('2025-01-01', '2025-12-31')).toHaveLength(250);
  });
});
