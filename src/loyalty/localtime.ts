// Wall-clock readings of an instant in a merchant's time zone: days, weekdays, hours.

export interface LocalTime {
  /** "YYYY-MM-DD" */
  date: string;
  year: number;
  month: number;
  day: number;
  /** 1 = Monday … 7 = Sunday */
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone (they are costly to make), shared by every reading of wall clocks. */
export function zoneFormatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      weekday: "short",
    });
    formatters.set(zone, f);
  }
  return f;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export function localTime(instant: Date, zone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of zoneFormatter(zone).formatToParts(instant)) parts[p.type] = p.value;
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    year,
    month,
    day,
    weekday: WEEKDAYS[parts.weekday!]!,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/** "15 декабря" for a burn date, in the merchant's calendar. */
export function dayAndMonth(instant: Date, zone: string): string {
  return new Intl.DateTimeFormat("ru-RU", { timeZone: zone, day: "numeric", month: "long" }).format(instant);
}
