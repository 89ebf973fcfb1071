"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useQueryClient } from "@tanstack/react-query";
import { useAuth } from "@/lib/auth";

const PAGES = [
  { href: "/dashboard", label: "Dashboard", admin: false },
  { href: "/playground", label: "Playground", admin: false },
  { href: "/models", label: "Models", admin: false },
  { href: "/admin", label: "Admin", admin: true },
];

export function Nav() {
  const { credentials, signOut } = useAuth();
  const pathname = usePathname();
  const router = useRouter();
  const queryClient = useQueryClient();

  function leave() {
    signOut();
    queryClient.clear();
    router.replace("/signin");
  }

  return (
    <header className="nav">
      <span className="brand">Generative Gateway</span>
      {credentials && (
        <nav>
          {PAGES.filter((page) => !page.admin || credentials.adminToken).map((page) => (
            <Link key={page.href} href={page.href} className={pathname.startsWith(page.href) ? "active" : undefined}>
              {page.label}
            </Link>
          ))}
        </nav>
      )}
      {credentials && (
        <span className="who">
          {credentials.adminToken ? "admin" : null}
          {credentials.adminToken && credentials.projectId ? " · " : null}
          {credentials.projectId ? `project ${credentials.projectId}` : null}
          <button type="button" className="link" onClick={leave}>
            Sign out
          </button>
        </span>
      )}
    </header>
  );
}
