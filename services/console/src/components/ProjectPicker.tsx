"use client";

import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { edgeJson } from "@/lib/edge";
import type { Project } from "@/lib/types";

// A project selector for admins; picks `preferred` or the first project when nothing is selected yet.
export function ProjectPicker({
  adminToken,
  value,
  preferred,
  onChange,
}: {
  adminToken: string;
  value: string | null;
  preferred: string | null;
  onChange: (projectId: string) => void;
}) {
  const projects = useQuery({
    queryKey: ["projects", adminToken],
    queryFn: () => edgeJson<{ data: Project[] }>("/admin/projects", adminToken),
  });
  const list = projects.data?.data ?? [];

  useEffect(() => {
    if (value || list.length === 0) return;
    onChange(list.find((project) => project.id === preferred)?.id ?? list[0].id);
  }, [value, list, preferred, onChange]);

  return (
    <label className="inline">
      Project
      <select name="project" value={value ?? ""} onChange={(event) => onChange(event.target.value)}>
        {list.map((project) => (
          <option key={project.id} value={project.id}>
            {project.name} ({project.id})
          </option>
        ))}
      </select>
    </label>
  );
}
