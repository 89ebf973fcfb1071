/** @type {import('next').NextConfig} */
const config = {
  // A self-contained server in .next/standalone, for the container image and `gateway up`.
  output: "standalone",
  // Streamed chat replies must reach the browser chunk by chunk; compression would buffer them.
  compress: false,
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
